from repotune.serve.server import main

main()
