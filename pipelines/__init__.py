"""Runnable tokenmill jobs, one file each (``python pipelines/<name>.py --help``)."""
