/**
 * Linux errno values by name (x86_64 and every other Linux ABI virtio-fs runs on:
 * asm-generic/errno-base.h and errno.h). FUSE carries them negated in
 * fuse_out_header.error.
 */
export const Errno = {
  /** Operation not permitted */
  EPERM: 1,
  /** No such file or directory */
  ENOENT: 2,
  /** No such process */
  ESRCH: 3,
  /** Interrupted system call */
  EINTR: 4,
  /** Input/output error */
  EIO: 5,
  /** No such device or address */
  ENXIO: 6,
  /** Argument list too long */
  E2BIG: 7,
  /** Exec format error */
  ENOEXEC: 8,
  /** Bad file descriptor */
  EBADF: 9,
  /** No child processes */
  ECHILD: 10,
  /** Resource temporarily unavailable */
  EAGAIN: 11,
  /** Cannot allocate memory */
  ENOMEM: 12,
  /** Permission denied */
  EACCES: 13,
  /** Bad address */
  EFAULT: 14,
  /** Block device required */
  ENOTBLK: 15,
  /** Device or resource busy */
  EBUSY: 16,
  /** File exists */
  EEXIST: 17,
  /** Invalid cross-device link */
  EXDEV: 18,
  /** No such device */
  ENODEV: 19,
  /** Not a directory */
  ENOTDIR: 20,
  /** Is a directory */
  EISDIR: 21,
  /** Invalid argument */
  EINVAL: 22,
  /** Too many open files in system */
  ENFILE: 23,
  /** Too many open files */
  EMFILE: 24,
  /** Inappropriate ioctl for device */
  ENOTTY: 25,
  /** Text file busy */
  ETXTBSY: 26,
  /** File too large */
  EFBIG: 27,
  /** No space left on device */
  ENOSPC: 28,
  /** Illegal seek */
  ESPIPE: 29,
  /** Read-only file system */
  EROFS: 30,
  /** Too many links */
  EMLINK: 31,
  /** Broken pipe */
  EPIPE: 32,
  /** Numerical argument out of domain */
  EDOM: 33,
  /** Numerical result out of range */
  ERANGE: 34,
  /** Resource deadlock avoided */
  EDEADLK: 35,
  /** File name too long */
  ENAMETOOLONG: 36,
  /** No locks available */
  ENOLCK: 37,
  /** Function not implemented */
  ENOSYS: 38,
  /** Directory not empty */
  ENOTEMPTY: 39,
  /** Too many levels of symbolic links */
  ELOOP: 40,
  /** No message of desired type */
  ENOMSG: 42,
  /** Identifier removed */
  EIDRM: 43,
  /** Channel number out of range */
  ECHRNG: 44,
  /** Level 2 not synchronized */
  EL2NSYNC: 45,
  /** Level 3 halted */
  EL3HLT: 46,
  /** Level 3 reset */
  EL3RST: 47,
  /** Link number out of range */
  ELNRNG: 48,
  /** Protocol driver not attached */
  EUNATCH: 49,
  /** No CSI structure available */
  ENOCSI: 50,
  /** Level 2 halted */
  EL2HLT: 51,
  /** Invalid exchange */
  EBADE: 52,
  /** Invalid request descriptor */
  EBADR: 53,
  /** Exchange full */
  EXFULL: 54,
  /** No anode */
  ENOANO: 55,
  /** Invalid request code */
  EBADRQC: 56,
  /** Invalid slot */
  EBADSLT: 57,
  /** Bad font file format */
  EBFONT: 59,
  /** Device not a stream */
  ENOSTR: 60,
  /** No data available */
  ENODATA: 61,
  /** Timer expired */
  ETIME: 62,
  /** Out of streams resources */
  ENOSR: 63,
  /** Machine is not on the network */
  ENONET: 64,
  /** Package not installed */
  ENOPKG: 65,
  /** Object is remote */
  EREMOTE: 66,
  /** Link has been severed */
  ENOLINK: 67,
  /** Advertise error */
  EADV: 68,
  /** Srmount error */
  ESRMNT: 69,
  /** Communication error on send */
  ECOMM: 70,
  /** Protocol error */
  EPROTO: 71,
  /** Multihop attempted */
  EMULTIHOP: 72,
  /** RFS specific error */
  EDOTDOT: 73,
  /** Bad message */
  EBADMSG: 74,
  /** Value too large for defined data type */
  EOVERFLOW: 75,
  /** Name not unique on network */
  ENOTUNIQ: 76,
  /** File descriptor in bad state */
  EBADFD: 77,
  /** Remote address changed */
  EREMCHG: 78,
  /** Can not access a needed shared library */
  ELIBACC: 79,
  /** Accessing a corrupted shared library */
  ELIBBAD: 80,
  /** .lib section in a.out corrupted */
  ELIBSCN: 81,
  /** Attempting to link in too many shared libraries */
  ELIBMAX: 82,
  /** Cannot exec a shared library directly */
  ELIBEXEC: 83,
  /** Invalid or incomplete multibyte or wide character */
  EILSEQ: 84,
  /** Interrupted system call should be restarted */
  ERESTART: 85,
  /** Streams pipe error */
  ESTRPIPE: 86,
  /** Too many users */
  EUSERS: 87,
  /** Socket operation on non-socket */
  ENOTSOCK: 88,
  /** Destination address required */
  EDESTADDRREQ: 89,
  /** Message too long */
  EMSGSIZE: 90,
  /** Protocol wrong type for socket */
  EPROTOTYPE: 91,
  /** Protocol not available */
  ENOPROTOOPT: 92,
  /** Protocol not supported */
  EPROTONOSUPPORT: 93,
  /** Socket type not supported */
  ESOCKTNOSUPPORT: 94,
  /** Operation not supported */
  EOPNOTSUPP: 95,
  /** Protocol family not supported */
  EPFNOSUPPORT: 96,
  /** Address family not supported by protocol */
  EAFNOSUPPORT: 97,
  /** Address already in use */
  EADDRINUSE: 98,
  /** Cannot assign requested address */
  EADDRNOTAVAIL: 99,
  /** Network is down */
  ENETDOWN: 100,
  /** Network is unreachable */
  ENETUNREACH: 101,
  /** Network dropped connection on reset */
  ENETRESET: 102,
  /** Software caused connection abort */
  ECONNABORTED: 103,
  /** Connection reset by peer */
  ECONNRESET: 104,
  /** No buffer space available */
  ENOBUFS: 105,
  /** Transport endpoint is already connected */
  EISCONN: 106,
  /** Transport endpoint is not connected */
  ENOTCONN: 107,
  /** Cannot send after transport endpoint shutdown */
  ESHUTDOWN: 108,
  /** Too many references: cannot splice */
  ETOOMANYREFS: 109,
  /** Connection timed out */
  ETIMEDOUT: 110,
  /** Connection refused */
  ECONNREFUSED: 111,
  /** Host is down */
  EHOSTDOWN: 112,
  /** No route to host */
  EHOSTUNREACH: 113,
  /** Operation already in progress */
  EALREADY: 114,
  /** Operation now in progress */
  EINPROGRESS: 115,
  /** Stale file handle */
  ESTALE: 116,
  /** Structure needs cleaning */
  EUCLEAN: 117,
  /** Not a XENIX named type file */
  ENOTNAM: 118,
  /** No XENIX semaphores available */
  ENAVAIL: 119,
  /** Is a named type file */
  EISNAM: 120,
  /** Remote I/O error */
  EREMOTEIO: 121,
  /** Disk quota exceeded */
  EDQUOT: 122,
  /** No medium found */
  ENOMEDIUM: 123,
  /** Wrong medium type */
  EMEDIUMTYPE: 124,
  /** Operation canceled */
  ECANCELED: 125,
  /** Required key not available */
  ENOKEY: 126,
  /** Key has expired */
  EKEYEXPIRED: 127,
  /** Key has been revoked */
  EKEYREVOKED: 128,
  /** Key was rejected by service */
  EKEYREJECTED: 129,
  /** Owner died */
  EOWNERDEAD: 130,
  /** State not recoverable */
  ENOTRECOVERABLE: 131,
  /** Operation not possible due to RF-kill */
  ERFKILL: 132,
  /** Alias of EAGAIN. */
  EWOULDBLOCK: 11,
  /** Alias of EDEADLK. */
  EDEADLOCK: 35,
  /** Alias of EOPNOTSUPP. */
  ENOTSUP: 95,
} as const;

export type ErrnoName = keyof typeof Errno;

const byNumber = new Map<number, ErrnoName>();
for (const [name, value] of Object.entries(Errno) as [ErrnoName, number][]) {
  if (!byNumber.has(value)) byNumber.set(value, name);
}

/** The symbolic name of an errno value, or `E<number>` when Linux has none. */
export function errnoName(errno: number): string {
  return byNumber.get(errno) ?? `E${errno}`;
}

const messages: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  3: "No such process",
  4: "Interrupted system call",
  5: "Input/output error",
  6: "No such device or address",
  7: "Argument list too long",
  8: "Exec format error",
  9: "Bad file descriptor",
  10: "No child processes",
  11: "Resource temporarily unavailable",
  12: "Cannot allocate memory",
  13: "Permission denied",
  14: "Bad address",
  15: "Block device required",
  16: "Device or resource busy",
  17: "File exists",
  18: "Invalid cross-device link",
  19: "No such device",
  20: "Not a directory",
  21: "Is a directory",
  22: "Invalid argument",
  23: "Too many open files in system",
  24: "Too many open files",
  25: "Inappropriate ioctl for device",
  26: "Text file busy",
  27: "File too large",
  28: "No space left on device",
  29: "Illegal seek",
  30: "Read-only file system",
  31: "Too many links",
  32: "Broken pipe",
  33: "Numerical argument out of domain",
  34: "Numerical result out of range",
  35: "Resource deadlock avoided",
  36: "File name too long",
  37: "No locks available",
  38: "Function not implemented",
  39: "Directory not empty",
  40: "Too many levels of symbolic links",
  42: "No message of desired type",
  43: "Identifier removed",
  44: "Channel number out of range",
  45: "Level 2 not synchronized",
  46: "Level 3 halted",
  47: "Level 3 reset",
  48: "Link number out of range",
  49: "Protocol driver not attached",
  50: "No CSI structure available",
  51: "Level 2 halted",
  52: "Invalid exchange",
  53: "Invalid request descriptor",
  54: "Exchange full",
  55: "No anode",
  56: "Invalid request code",
  57: "Invalid slot",
  59: "Bad font file format",
  60: "Device not a stream",
  61: "No data available",
  62: "Timer expired",
  63: "Out of streams resources",
  64: "Machine is not on the network",
  65: "Package not installed",
  66: "Object is remote",
  67: "Link has been severed",
  68: "Advertise error",
  69: "Srmount error",
  70: "Communication error on send",
  71: "Protocol error",
  72: "Multihop attempted",
  73: "RFS specific error",
  74: "Bad message",
  75: "Value too large for defined data type",
  76: "Name not unique on network",
  77: "File descriptor in bad state",
  78: "Remote address changed",
  79: "Can not access a needed shared library",
  80: "Accessing a corrupted shared library",
  81: ".lib section in a.out corrupted",
  82: "Attempting to link in too many shared libraries",
  83: "Cannot exec a shared library directly",
  84: "Invalid or incomplete multibyte or wide character",
  85: "Interrupted system call should be restarted",
  86: "Streams pipe error",
  87: "Too many users",
  88: "Socket operation on non-socket",
  89: "Destination address required",
  90: "Message too long",
  91: "Protocol wrong type for socket",
  92: "Protocol not available",
  93: "Protocol not supported",
  94: "Socket type not supported",
  95: "Operation not supported",
  96: "Protocol family not supported",
  97: "Address family not supported by protocol",
  98: "Address already in use",
  99: "Cannot assign requested address",
  100: "Network is down",
  101: "Network is unreachable",
  102: "Network dropped connection on reset",
  103: "Software caused connection abort",
  104: "Connection reset by peer",
  105: "No buffer space available",
  106: "Transport endpoint is already connected",
  107: "Transport endpoint is not connected",
  108: "Cannot send after transport endpoint shutdown",
  109: "Too many references: cannot splice",
  110: "Connection timed out",
  111: "Connection refused",
  112: "Host is down",
  113: "No route to host",
  114: "Operation already in progress",
  115: "Operation now in progress",
  116: "Stale file handle",
  117: "Structure needs cleaning",
  118: "Not a XENIX named type file",
  119: "No XENIX semaphores available",
  120: "Is a named type file",
  121: "Remote I/O error",
  122: "Disk quota exceeded",
  123: "No medium found",
  124: "Wrong medium type",
  125: "Operation canceled",
  126: "Required key not available",
  127: "Key has expired",
  128: "Key has been revoked",
  129: "Key was rejected by service",
  130: "Owner died",
  131: "State not recoverable",
  132: "Operation not possible due to RF-kill",
};

/** The C library's message for an errno value. */
export function errnoMessage(errno: number): string {
  return messages[errno] ?? `Unknown error ${errno}`;
}
