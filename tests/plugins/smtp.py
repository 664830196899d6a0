"""A real SMTP server (aiosmtpd) for tests. (Filled in by the mail work.)"""
