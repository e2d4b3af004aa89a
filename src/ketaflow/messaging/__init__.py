"""Messages to patients and staff: templates, delivery (SMTP), retry timing. No database here."""
