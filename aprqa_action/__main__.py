from aprqa_action.cli import main

raise SystemExit(main())
