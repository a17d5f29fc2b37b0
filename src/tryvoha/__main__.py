from tryvoha.cli.main import main

main()
