"""``seedreg ui`` (a local read-only web app) and ``seedreg report`` (one self-contained HTML file).

Both are thin skins over :class:`seedreg.Registry` that share one set of templates; neither
is imported by ``seedreg list`` or the with-block. Needs the extra ``seedreg[ui]``.
"""
