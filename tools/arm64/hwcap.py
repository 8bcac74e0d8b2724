"""Print the /proc/cpuinfo Features line of the (emulated) arm64 core this runs on, from its HWCAP bits.

Run inside the guest by tools/arm64/setup.sh's launcher. The names and bit order are the Linux arm64 ABI
(arch/arm64/include/uapi/asm/hwcap.h): AT_HWCAP (16) and AT_HWCAP2 (26) of the auxiliary vector.
"""

import ctypes

HWCAP = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop "
         "sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg").split()
HWCAP2 = ("dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 "
          "i8mm bf16 dgh rng bti mte ecv afp rpres mte3 sme sme_i16i64 sme_f64f64 sme_i8i32 sme_f16f32 sme_b16f32 "
          "sme_f32f32 sme_fa64").split()

libc = ctypes.CDLL(None)
libc.getauxval.restype = ctypes.c_ulong
bits = (libc.getauxval(16), libc.getauxval(26))
print(" ".join(name for names, value in zip((HWCAP, HWCAP2), bits)
               for index, name in enumerate(names) if value >> index & 1))
