"""Evidence packs (issue 17, item 5; design/evidence.md, The pack).

A pack is one BagIt bag per selector — a weapon system, a component, a manufacturer or a country
of manufacture — over a date range, in one of three tiers: public (aggregates, working copies,
coarse places), partner (item-level detail) and restricted (originals and exact places, for a
typed reason, audited, coordinators only). One generator builds all three (`build.build_pack`),
through the exports' records and policy; `bag.verify_bag` checks a pack offline.

- selector.py: what a pack is about, matched through the weapon catalogue;
- sources.py: the items and transfer records of an incident (the one module that reads them);
- custody.py: the hash-chained custody log;
- dossier.py: the PDF;
- bag.py: verifying and zipping a bag;
- jobs.py: the pack job a worker builds, with its progress.
"""

from __future__ import annotations

from .bag import verify_bag, zip_bag
from .build import Pack, PackError, PackSpec, PackTier, build_pack, generator
from .selector import Selector, SelectorError, SelectorKind

__all__ = ["Pack", "PackError", "PackSpec", "PackTier", "Selector", "SelectorError", "SelectorKind", "build_pack",
           "generator", "verify_bag", "zip_bag"]
