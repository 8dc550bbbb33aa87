from nugen_demo import main

raise SystemExit(main())
