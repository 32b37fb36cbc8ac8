from loadtester.cli import main

raise SystemExit(main())
