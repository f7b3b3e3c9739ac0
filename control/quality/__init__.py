"""Quality reviews: evaluation forms per queue, supervisors' scores of calls."""
