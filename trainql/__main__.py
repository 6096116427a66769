from trainql.cli import main

main()
