"""The example ML systems, one package each: ``from systems import titanic``.

A system package holds what is particular to one system: where its raw data
comes from, its synthetic generator, its expectation suites and its drift
switches. Everything generic lives in `fti`; a system package imports `fti`,
never the other way round. The system's notebooks, schedule (``pipelines.yml``)
and notebook story (``story.yml``) live in ``notebooks/SYSTEM/``.
"""
