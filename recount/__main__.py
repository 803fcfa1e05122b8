from recount.cli import main

main()
