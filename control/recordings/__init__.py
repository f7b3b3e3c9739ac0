"""The recordings library and the call history (issue 14): past calls searched
and shown with their timeline, recordings played and downloaded (audited), and
each queue's retention policy applied by a periodic job."""
