"""Several control planes over one PostgreSQL and one Redis: the routing
lease (:mod:`~control.ha.lease`), its fencing token in the database
(:mod:`~control.ha.fence`), what only the lease's holder runs
(:mod:`~control.ha.leadership`) and the requests the others forward to it
(:mod:`~control.ha.forward`)."""
