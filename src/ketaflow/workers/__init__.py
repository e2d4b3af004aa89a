"""Long-running processes that call the services, as the web app does: the MLLP listener for
bedside monitors (and, later, the outbox that sends the clinic's HL7 messages)."""
