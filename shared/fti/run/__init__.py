"""The run layer: the only way the kit executes a notebook.

``execute`` runs one notebook with papermill in a fresh kernel with a time
limit; ``executors`` runs many on local worker processes; ``schedule`` reads a
system's ``pipelines.yml``; ``runner`` plays days of a schedule; ``runlog``
records every run in the store; ``batch`` runs a folder or a parameter grid;
``build`` re-executes the committed notebooks in place (``make notebooks``).

It may use the store core; it never imports the teaching layer or an example system.
"""
