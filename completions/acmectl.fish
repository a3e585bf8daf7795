# fish completion for acmectl(1).
#
# Every candidate comes from the hidden `acmectl __complete WORD...`, which
# answers from the command and option tables: nothing here names a command or
# an option. It prints one candidate per line; ":file" and ":dir" ask for file
# and directory names.

function __acmectl_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l prog (string replace -r -- '^~' $HOME $tokens[1])
    set -l args $tokens[2..-1]
    set -l prefix ''
    # "--output=js": ask for the values of --output, print them after "--output="
    if string match -qr -- '^--[^=]+=' $cur
        set prefix (string replace -r -- '=.*' '=' $cur)
        set -a args (string replace -r -- '=.*' '' $cur)
        set cur (string replace -r -- '^[^=]*=' '' $cur)
    end
    for cand in ($prog __complete $args "$cur" 2>/dev/null)
        switch $cand
            case :file
                for p in (__fish_complete_path "$cur")
                    printf '%s%s\n' $prefix $p
                end
            case :dir
                for p in (__fish_complete_directories "$cur")
                    printf '%s%s\n' $prefix $p
                end
            case ''
            case '*'
                printf '%s%s\n' $prefix $cand
        end
    end
end

complete -c acmectl -f -a '(__acmectl_complete)'
