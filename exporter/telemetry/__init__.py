"""What the service says about itself on ``/metrics``: request metrics (RED), capped metric families,
host and process resources, event-loop lag, custom metrics and their audit digest, and the exposition
renderer that serves them without stalling the loop."""
