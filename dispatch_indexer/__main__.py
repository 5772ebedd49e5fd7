from .cli import main

# Guarded: worker processes import this module's package, never run the CLI.
if __name__ == "__main__":
    main()
