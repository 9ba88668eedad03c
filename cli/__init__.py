"""The command line and the app wiring: the top layer, which builds the clients once and hands them down."""
