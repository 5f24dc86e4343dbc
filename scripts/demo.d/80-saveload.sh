# Part of scripts/demo.sh: save to one tar (a docker archive and an OCI layout at
# once), remove, load back.
echo
echo "== save and load"
step save -o "$work/web.tar" "$REF"
printf '$ tar -tf web.tar | head\n'; tar -tf "$work/web.tar" | head -8
step rmi "$REF"
step load -i "$work/web.tar"
step run --rm "$REF" cat /www/index.html
step system df
step system fsck
