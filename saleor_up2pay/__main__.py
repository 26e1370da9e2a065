import sys

from saleor_up2pay.cli import main

sys.exit(main())
