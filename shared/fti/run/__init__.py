"""The run layer: the only way the kit executes a notebook.

Every execution is an ``execute.ExecutionRequest`` run by ``execute.execute``
(papermill, a fresh kernel started with its own environment and working
directory, a time limit); nothing in this process's environment changes.
``executors`` runs requests one by one here or on worker processes, and every
caller goes through them or ``execute``: the scheduler (``schedule`` reads a
system's ``pipelines.yml``, ``runner`` plays its days, ``runlog`` records each
run in the store, ``on_demand`` lets a notebook ask for a run of another with
`fti.request_run`), ``overview`` (``fti store``: what a store holds, recent runs
included), ``batch`` (``fti batch``), grading (``fti grade``), and
``build`` (``make notebooks``), which plays a system's ``story.yml`` (``story``)
and writes the outputs back into the committed notebooks.

Bad input raises an `fti.exceptions.FTIError` subclass. The store is opened once
at the edge (the ``fti`` command, `fti.get_runs`) and passed inward as a ``Store``.
It may use the store core; it never imports the teaching layer or an example system.
"""
