#!/bin/sh
echo "$GREETING (made by BUILDER as $(id -un))"
echo "files in $(pwd):"
ls -l
