"""The Celery entry point: `celery -A workers.worker worker` (and `beat`)."""

import os

# The anonymizer's NER models use numpy, face detection OpenCV: one thread each per worker process,
# not one per core (the pool runs a process per core; more threads only make them fight over the cores).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENCV_FOR_THREADS_NUM"):
    os.environ.setdefault(_variable, "1")

from intake import create_app  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers.tasks  # noqa: E402,F401  (registers the tasks with this app)
