#!/bin/bash
# Sourced by docker-stacks' start.sh before the server starts. A hub mounts a fresh volume over $HOME: give the
# user a copy of gorepro's notebooks once, and never overwrite their edits on later starts.
if [ ! -e "${HOME}/gorepro-notebooks" ] && [ -w "${HOME}" ]; then
    cp -r "${GOREPRO_ROOT:-/usr/local/gorepro}/notebooks" "${HOME}/gorepro-notebooks" &&
        echo "gorepro: copied the notebooks to ${HOME}/gorepro-notebooks"
fi
