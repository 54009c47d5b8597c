import Glibc
import PVMHCommand

exit(PVMH.main(arguments: Array(CommandLine.arguments.dropFirst())))
