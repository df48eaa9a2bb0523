from repotune.cli import main

main()
