# bash completion for acmectl(1).
#
# Every candidate comes from the hidden `acmectl __complete WORD...`, which
# answers from the command and option tables: nothing here names a command or
# an option. It prints one candidate per line; ":file" and ":dir" ask for file
# and directory names.
# shellcheck shell=bash

_acmectl()
{
	local -a words=()
	local i w cur out cand prog quote

	COMPREPLY=()
	# bash splits "--output=js" at "=" (COMP_WORDBREAKS); __complete wants
	# "--output" "js", and COMPREPLY then replaces only the part after "=".
	for ((i = 1; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == "=" && ${COMP_WORDS[i - 1]} == --* ]]; then
			((i == COMP_CWORD)) && words+=("")
			continue
		fi
		# and "id:12" at ":": glue it back ("products get id:12")
		if [[ $COMP_WORDBREAKS == *:* && ${#words[@]} -gt 0 &&
			($w == ":" || ${COMP_WORDS[i - 1]} == ":") ]]; then
			words[${#words[@]} - 1]+=$w
			continue
		fi
		words+=("$w")
	done
	((${#words[@]})) || words=("")
	cur=${words[${#words[@]} - 1]}
	# a value with spaces may be typed quoted ("Red Sh, 'Red Sh) or escaped
	# (Red\ Sh): __complete wants the value itself
	quote=
	case $cur in
	\"*) quote=\"; cur=${cur#\"} ;;
	\'*) quote=\'; cur=${cur#\'} ;;
	*\\*) cur=$(printf '%s' "$cur" | sed 's/\\\(.\)/\1/g') ;;
	esac
	words[${#words[@]} - 1]=$cur
	# bash replaces only the part after the last ":" of the word
	local colon_prefix=""
	[[ $COMP_WORDBREAKS == *:* && $cur == *:* ]] && colon_prefix=${cur%"${cur##*:}"}

	prog=${COMP_WORDS[0]/#\~/$HOME}
	out=$("$prog" __complete "${words[@]}" 2>/dev/null) || return 0

	while IFS= read -r cand; do
		case $cand in
		"") ;;
		:file)
			compopt -o filenames 2>/dev/null
			while IFS= read -r w; do COMPREPLY+=("$w"); done < <(compgen -f -- "$cur")
			;;
		:dir)
			compopt -o filenames 2>/dev/null
			while IFS= read -r w; do COMPREPLY+=("$w"); done < <(compgen -d -- "$cur")
			;;
		*)
			# bash replaces only what follows the last ":" of the word
			cand=${cand#"$colon_prefix"}
			# values with spaces or shell characters (SKUs) go back quoted
			if [[ -n $quote ]]; then
				COMPREPLY+=("$quote$cand$quote")
			elif [[ $cand == *[^A-Za-z0-9_.,:/@%+=-]* ]]; then
				printf -v w '%q' "$cand"
				COMPREPLY+=("$w")
			else
				COMPREPLY+=("$cand")
			fi
			;;
		esac
	done <<<"$out"
	return 0
}

complete -F _acmectl acmectl
