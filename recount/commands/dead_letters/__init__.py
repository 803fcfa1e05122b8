"""dlq peek and dlq redrive: the dead-letter queues of a Target, inspected without consuming (peek.py), moved
back safely (redrive.py); queues.py names the queues and makes the raw SQS calls both need."""
