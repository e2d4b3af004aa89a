"""HL7 v2: bedside-monitor ORU^R01 messages read into vital-sign readings, and ACKs written back."""
