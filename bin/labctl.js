#!/usr/bin/env node
// labctl runs from source (the project does not compile TypeScript): tsx's require hook loads
// src/cli/labctl.ts in this same process, so exit codes and signals need no relaying.
'use strict';
require('tsx/cjs');
require('../src/cli/labctl.ts');
