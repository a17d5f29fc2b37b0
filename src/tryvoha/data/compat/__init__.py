"""Place ids of the compatible APIs (alerts.in.ua, ukrainealarm). See PROVENANCE.md."""
