"""Fakes of the outside world (Saleor, Up2pay) for tests. The app's own stores stay real (Redis)."""
