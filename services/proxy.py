"""The bus proxy process (XSUB + XPUB), the only process that binds bus sockets."""

from hope.proxy import main

if __name__ == "__main__":
    main()
