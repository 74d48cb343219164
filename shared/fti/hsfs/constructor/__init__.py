"""``hsfs.constructor``: filters (`fti.hsfs.constructor.filter`) and queries (`fti.hsfs.constructor.query`)."""
