// seedreg ui and report: the few things a page does in the browser. No request leaves the page.
(function () {
  "use strict";
  // The differences-only switch of the compare page: hide rows whose values are all equal, keep the URL shareable.
  var switchBox = document.getElementById("differences");
  var table = document.getElementById("compare-table");
  if (switchBox && table) {
    switchBox.addEventListener("change", function () {
      table.classList.toggle("only-differences", switchBox.checked);
      if (window.history && window.location.protocol !== "file:") {
        var url = new URL(window.location.href);
        if (switchBox.checked) { url.searchParams.set("differences", "1"); } else { url.searchParams.delete("differences"); }
        window.history.replaceState(null, "", url.toString());
      }
    });
  }
  // Copy buttons: copy the text of the element they name (the replay command).
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) { return; }
      var text = source.textContent;
      var done = function () { button.textContent = "copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(source); });
      } else {
        select(source);
      }
    });
  });
  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  // The runs page's total when the server had not counted it yet: the JSON twin counts (up to 10,000).
  var total = document.getElementById("total");
  if (total && total.getAttribute("data-count")) {
    fetch(total.getAttribute("data-count"), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var shown = data.total.toLocaleString("en-US");
        total.textContent = data.total_exact ? shown : "more than " + shown;
        total.removeAttribute("data-count");
      });
  }
  // The filter form: leave empty fields out of the URL, so a filtered view is a short link to share.
  var filters = document.getElementById("filters");
  if (filters) {
    filters.addEventListener("submit", function () {
      filters.querySelectorAll("input[type=text], select").forEach(function (field) {
        if (!field.value.trim()) { field.disabled = true; }
      });
    });
    window.addEventListener("pageshow", function () {  // back to a form left disabled by a submit
      filters.querySelectorAll("[disabled]").forEach(function (field) { field.disabled = false; });
    });
  }
})();
