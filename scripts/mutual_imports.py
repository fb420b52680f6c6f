#!/usr/bin/env python3
# Run from the project root: python3 scripts/mutual_imports.py
# Pairs of files (modules) in one crate that refer to each other: crate::a / super::a / self::a paths.
import os, re, sys, itertools
pairs = []
for crate in sorted(os.listdir('crates')):
    src = f'crates/{crate}/src'
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)[:-3]
            parts = rel.split('/')
            if parts[-1] in ('mod', 'lib', 'main'): parts = parts[:-1]
            mods['::'.join(parts)] = p
    refs = {}
    for m, p in mods.items():
        text = open(p).read()
        text = re.sub(r'//[^\n]*', '', text)
        parent = m.rsplit('::', 1)[0] if '::' in m else ''
        found = set()
        for x in re.findall(r'crate::((?:\w+::)*\w+)', text):
            segs = x.split('::')
            for k in range(len(segs), 0, -1):
                c = '::'.join(segs[:k])
                if c in mods: found.add(c); break
        for x in re.findall(r'super::((?:\w+::)*\w+)', text):
            base = parent
            segs = x.split('::')
            for k in range(len(segs), 0, -1):
                c = '::'.join(([base] if base else []) + segs[:k])
                if c in mods: found.add(c); break
        # use super::{a, b}
        for grp in re.findall(r'use (?:crate|super)::\{([^}]*)\}', text):
            for name in re.findall(r'\b(\w+)\b', grp):
                c = (parent + '::' + name) if parent else name
                if c in mods: found.add(c)
        found.discard(m)
        refs[m] = found
    for a, b in itertools.combinations(sorted(mods), 2):
        if b in refs[a] and a in refs[b] and a != '' and b != '':
            pairs.append(f'{crate}: {mods[a]} <-> {mods[b]}')
print('\n'.join(pairs) or 'no mutual imports')
