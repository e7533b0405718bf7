"""State changes of the core domain, one function per act. See presence, routing and engagements."""
