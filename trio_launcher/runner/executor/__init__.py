"""Running tasks, the runner's side (Trio): it runs in the runner process.

* :mod:`.task_executor`: :class:`~.task_executor.TaskExecutor` and
  :func:`~.task_executor.open_executor`, which keep one worker alive and run
  tasks in its forked task processes;
* :mod:`.worker_handle`: starts the worker, reads its control socket and
  hands out task processes;
* :mod:`.prepare`: validates a task's settings, runs the static check and
  compiles the code, so that rejected code never costs a process;
* :mod:`.channel`: the runner's end of a task socket;
* :mod:`.outcome`: what a task produced, and the errors of failed processes;
* :mod:`.task_cgroups`: a cgroup per task, opened here and passed to the worker.

This ``__init__`` imports nothing: the broker loop imports :mod:`.outcome`
on its way to the first offer, the rest only when it starts the executor.
"""
