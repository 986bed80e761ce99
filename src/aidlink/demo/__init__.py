"""The demo: the whole system on loopback with throwaway keys (aidlink demo).

Tests use the same loopback deployment; production code never imports this package."""
