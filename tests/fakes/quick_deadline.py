"""The shipped gunicorn worker with a 3 s deadline instead of 10 s, for a test about what the
deadline frees rather than how long it is (that test waits one deadline; the shipped length is
proved with the shipped settings). gunicorn loads it by name, with tests/ on its path:
``--worker-class fakes.quick_deadline.QuickDeadlineWorker``."""

from coprod.webhook_app.gunicorn_worker import ThreadWorker


class QuickDeadlineWorker(ThreadWorker):
    request_seconds = 3.0
