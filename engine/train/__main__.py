from engine.train.stages import main

raise SystemExit(main())
