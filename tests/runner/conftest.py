"""The runner's tests, one folder per part of ``trio_launcher/runner/``.

Beside this file, helpers the folders share: ``inprocess.py`` (a task run in
the test's own process) and ``worker_pids.py`` (pids in the worker's PID
namespace).  pytest puts this folder on ``sys.path`` for every test below it.
"""
