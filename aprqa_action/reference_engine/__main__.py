from aprqa_action.reference_engine.cli import main

main()
