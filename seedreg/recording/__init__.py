"""Recording a run: the with-block (block), its writes (writer; spool for an unreachable database;
heartbeat), what it captures of the process (environment), and the seed a block takes when a
replay or a sweep runs it (substitution)."""
