"""Recording a run: the with-block (block), its writes (writer, spool for an unreachable database,
heartbeat), what it captures of the process (environment), and arrays it keeps (kept_arrays)."""
