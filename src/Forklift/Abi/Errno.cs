namespace Forklift.Abi;

/// <summary>Linux errno values (asm-generic/errno-base.h, errno.h) with the C library's messages.</summary>
public enum Errno
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary><c>EPERM</c>: Operation not permitted.</summary>
    EPERM = 1,
    /// <summary><c>ENOENT</c>: No such file or directory.</summary>
    ENOENT = 2,
    /// <summary><c>ESRCH</c>: No such process.</summary>
    ESRCH = 3,
    /// <summary><c>EINTR</c>: Interrupted system call.</summary>
    EINTR = 4,
    /// <summary><c>EIO</c>: Input/output error.</summary>
    EIO = 5,
    /// <summary><c>ENXIO</c>: No such device or address.</summary>
    ENXIO = 6,
    /// <summary><c>E2BIG</c>: Argument list too long.</summary>
    E2BIG = 7,
    /// <summary><c>ENOEXEC</c>: Exec format error.</summary>
    ENOEXEC = 8,
    /// <summary><c>EBADF</c>: Bad file descriptor.</summary>
    EBADF = 9,
    /// <summary><c>ECHILD</c>: No child processes.</summary>
    ECHILD = 10,
    /// <summary><c>EAGAIN</c>: Resource temporarily unavailable.</summary>
    EAGAIN = 11,
    /// <summary><c>ENOMEM</c>: Cannot allocate memory.</summary>
    ENOMEM = 12,
    /// <summary><c>EACCES</c>: Permission denied.</summary>
    EACCES = 13,
    /// <summary><c>EFAULT</c>: Bad address.</summary>
    EFAULT = 14,
    /// <summary><c>ENOTBLK</c>: Block device required.</summary>
    ENOTBLK = 15,
    /// <summary><c>EBUSY</c>: Device or resource busy.</summary>
    EBUSY = 16,
    /// <summary><c>EEXIST</c>: File exists.</summary>
    EEXIST = 17,
    /// <summary><c>EXDEV</c>: Invalid cross-device link.</summary>
    EXDEV = 18,
    /// <summary><c>ENODEV</c>: No such device.</summary>
    ENODEV = 19,
    /// <summary><c>ENOTDIR</c>: Not a directory.</summary>
    ENOTDIR = 20,
    /// <summary><c>EISDIR</c>: Is a directory.</summary>
    EISDIR = 21,
    /// <summary><c>EINVAL</c>: Invalid argument.</summary>
    EINVAL = 22,
    /// <summary><c>ENFILE</c>: Too many open files in system.</summary>
    ENFILE = 23,
    /// <summary><c>EMFILE</c>: Too many open files.</summary>
    EMFILE = 24,
    /// <summary><c>ENOTTY</c>: Inappropriate ioctl for device.</summary>
    ENOTTY = 25,
    /// <summary><c>ETXTBSY</c>: Text file busy.</summary>
    ETXTBSY = 26,
    /// <summary><c>EFBIG</c>: File too large.</summary>
    EFBIG = 27,
    /// <summary><c>ENOSPC</c>: No space left on device.</summary>
    ENOSPC = 28,
    /// <summary><c>ESPIPE</c>: Illegal seek.</summary>
    ESPIPE = 29,
    /// <summary><c>EROFS</c>: Read-only file system.</summary>
    EROFS = 30,
    /// <summary><c>EMLINK</c>: Too many links.</summary>
    EMLINK = 31,
    /// <summary><c>EPIPE</c>: Broken pipe.</summary>
    EPIPE = 32,
    /// <summary><c>EDOM</c>: Numerical argument out of domain.</summary>
    EDOM = 33,
    /// <summary><c>ERANGE</c>: Numerical result out of range.</summary>
    ERANGE = 34,
    /// <summary><c>EDEADLK</c>: Resource deadlock avoided.</summary>
    EDEADLK = 35,
    /// <summary><c>ENAMETOOLONG</c>: File name too long.</summary>
    ENAMETOOLONG = 36,
    /// <summary><c>ENOLCK</c>: No locks available.</summary>
    ENOLCK = 37,
    /// <summary><c>ENOSYS</c>: Function not implemented.</summary>
    ENOSYS = 38,
    /// <summary><c>ENOTEMPTY</c>: Directory not empty.</summary>
    ENOTEMPTY = 39,
    /// <summary><c>ELOOP</c>: Too many levels of symbolic links.</summary>
    ELOOP = 40,
    /// <summary><c>ENOMSG</c>: No message of desired type.</summary>
    ENOMSG = 42,
    /// <summary><c>EIDRM</c>: Identifier removed.</summary>
    EIDRM = 43,
    /// <summary><c>ENODATA</c>: No data available.</summary>
    ENODATA = 61,
    /// <summary><c>ETIME</c>: Timer expired.</summary>
    ETIME = 62,
    /// <summary><c>EPROTO</c>: Protocol error.</summary>
    EPROTO = 71,
    /// <summary><c>EBADMSG</c>: Bad message.</summary>
    EBADMSG = 74,
    /// <summary><c>EOVERFLOW</c>: Value too large for defined data type.</summary>
    EOVERFLOW = 75,
    /// <summary><c>EILSEQ</c>: Invalid or incomplete multibyte or wide character.</summary>
    EILSEQ = 84,
    /// <summary><c>EUSERS</c>: Too many users.</summary>
    EUSERS = 87,
    /// <summary><c>ENOTSOCK</c>: Socket operation on non-socket.</summary>
    ENOTSOCK = 88,
    /// <summary><c>EOPNOTSUPP</c>: Operation not supported.</summary>
    EOPNOTSUPP = 95,
    /// <summary><c>EADDRINUSE</c>: Address already in use.</summary>
    EADDRINUSE = 98,
    /// <summary><c>EADDRNOTAVAIL</c>: Cannot assign requested address.</summary>
    EADDRNOTAVAIL = 99,
    /// <summary><c>ENETDOWN</c>: Network is down.</summary>
    ENETDOWN = 100,
    /// <summary><c>ENETUNREACH</c>: Network is unreachable.</summary>
    ENETUNREACH = 101,
    /// <summary><c>ECONNRESET</c>: Connection reset by peer.</summary>
    ECONNRESET = 104,
    /// <summary><c>ETIMEDOUT</c>: Connection timed out.</summary>
    ETIMEDOUT = 110,
    /// <summary><c>ECONNREFUSED</c>: Connection refused.</summary>
    ECONNREFUSED = 111,
    /// <summary><c>EHOSTUNREACH</c>: No route to host.</summary>
    EHOSTUNREACH = 113,
    /// <summary><c>EALREADY</c>: Operation already in progress.</summary>
    EALREADY = 114,
    /// <summary><c>EINPROGRESS</c>: Operation now in progress.</summary>
    EINPROGRESS = 115,
    /// <summary><c>ESTALE</c>: Stale file handle.</summary>
    ESTALE = 116,
    /// <summary><c>EDQUOT</c>: Disk quota exceeded.</summary>
    EDQUOT = 122,
    /// <summary><c>ECANCELED</c>: Operation canceled.</summary>
    ECANCELED = 125,
    /// <summary><c>ENOKEY</c>: Required key not available.</summary>
    ENOKEY = 126,
    /// <summary><c>EOWNERDEAD</c>: Owner died.</summary>
    EOWNERDEAD = 130,
    /// <summary><c>ENOTRECOVERABLE</c>: State not recoverable.</summary>
    ENOTRECOVERABLE = 131,
    /// <summary><c>ERESTARTNOINTR</c>: Restart system call (kernel-internal, never seen by user space).</summary>
    ERESTARTNOINTR = 513,
}

/// <summary>Names and messages for <see cref="Errno"/>.</summary>
public static class ErrnoInfo
{
    /// <summary>The symbolic name (<c>EINVAL</c>), or <c>errno N</c> for a value without one.</summary>
    public static string Name(Errno errno) => errno switch
    {
        Errno.None => "0",
        Errno.EPERM => "EPERM",
        Errno.ENOENT => "ENOENT",
        Errno.ESRCH => "ESRCH",
        Errno.EINTR => "EINTR",
        Errno.EIO => "EIO",
        Errno.ENXIO => "ENXIO",
        Errno.E2BIG => "E2BIG",
        Errno.ENOEXEC => "ENOEXEC",
        Errno.EBADF => "EBADF",
        Errno.ECHILD => "ECHILD",
        Errno.EAGAIN => "EAGAIN",
        Errno.ENOMEM => "ENOMEM",
        Errno.EACCES => "EACCES",
        Errno.EFAULT => "EFAULT",
        Errno.ENOTBLK => "ENOTBLK",
        Errno.EBUSY => "EBUSY",
        Errno.EEXIST => "EEXIST",
        Errno.EXDEV => "EXDEV",
        Errno.ENODEV => "ENODEV",
        Errno.ENOTDIR => "ENOTDIR",
        Errno.EISDIR => "EISDIR",
        Errno.EINVAL => "EINVAL",
        Errno.ENFILE => "ENFILE",
        Errno.EMFILE => "EMFILE",
        Errno.ENOTTY => "ENOTTY",
        Errno.ETXTBSY => "ETXTBSY",
        Errno.EFBIG => "EFBIG",
        Errno.ENOSPC => "ENOSPC",
        Errno.ESPIPE => "ESPIPE",
        Errno.EROFS => "EROFS",
        Errno.EMLINK => "EMLINK",
        Errno.EPIPE => "EPIPE",
        Errno.EDOM => "EDOM",
        Errno.ERANGE => "ERANGE",
        Errno.EDEADLK => "EDEADLK",
        Errno.ENAMETOOLONG => "ENAMETOOLONG",
        Errno.ENOLCK => "ENOLCK",
        Errno.ENOSYS => "ENOSYS",
        Errno.ENOTEMPTY => "ENOTEMPTY",
        Errno.ELOOP => "ELOOP",
        Errno.ENOMSG => "ENOMSG",
        Errno.EIDRM => "EIDRM",
        Errno.ENODATA => "ENODATA",
        Errno.ETIME => "ETIME",
        Errno.EPROTO => "EPROTO",
        Errno.EBADMSG => "EBADMSG",
        Errno.EOVERFLOW => "EOVERFLOW",
        Errno.EILSEQ => "EILSEQ",
        Errno.EUSERS => "EUSERS",
        Errno.ENOTSOCK => "ENOTSOCK",
        Errno.EOPNOTSUPP => "EOPNOTSUPP",
        Errno.EADDRINUSE => "EADDRINUSE",
        Errno.EADDRNOTAVAIL => "EADDRNOTAVAIL",
        Errno.ENETDOWN => "ENETDOWN",
        Errno.ENETUNREACH => "ENETUNREACH",
        Errno.ECONNRESET => "ECONNRESET",
        Errno.ETIMEDOUT => "ETIMEDOUT",
        Errno.ECONNREFUSED => "ECONNREFUSED",
        Errno.EHOSTUNREACH => "EHOSTUNREACH",
        Errno.EALREADY => "EALREADY",
        Errno.EINPROGRESS => "EINPROGRESS",
        Errno.ESTALE => "ESTALE",
        Errno.EDQUOT => "EDQUOT",
        Errno.ECANCELED => "ECANCELED",
        Errno.ENOKEY => "ENOKEY",
        Errno.EOWNERDEAD => "EOWNERDEAD",
        Errno.ENOTRECOVERABLE => "ENOTRECOVERABLE",
        Errno.ERESTARTNOINTR => "ERESTARTNOINTR",
        _ => "errno " + ((int)errno).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The C library's message for the errno (<c>Invalid argument</c>).</summary>
    public static string Message(Errno errno) => errno switch
    {
        Errno.None => "Success",
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.ESRCH => "No such process",
        Errno.EINTR => "Interrupted system call",
        Errno.EIO => "Input/output error",
        Errno.ENXIO => "No such device or address",
        Errno.E2BIG => "Argument list too long",
        Errno.ENOEXEC => "Exec format error",
        Errno.EBADF => "Bad file descriptor",
        Errno.ECHILD => "No child processes",
        Errno.EAGAIN => "Resource temporarily unavailable",
        Errno.ENOMEM => "Cannot allocate memory",
        Errno.EACCES => "Permission denied",
        Errno.EFAULT => "Bad address",
        Errno.ENOTBLK => "Block device required",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.EXDEV => "Invalid cross-device link",
        Errno.ENODEV => "No such device",
        Errno.ENOTDIR => "Not a directory",
        Errno.EISDIR => "Is a directory",
        Errno.EINVAL => "Invalid argument",
        Errno.ENFILE => "Too many open files in system",
        Errno.EMFILE => "Too many open files",
        Errno.ENOTTY => "Inappropriate ioctl for device",
        Errno.ETXTBSY => "Text file busy",
        Errno.EFBIG => "File too large",
        Errno.ENOSPC => "No space left on device",
        Errno.ESPIPE => "Illegal seek",
        Errno.EROFS => "Read-only file system",
        Errno.EMLINK => "Too many links",
        Errno.EPIPE => "Broken pipe",
        Errno.EDOM => "Numerical argument out of domain",
        Errno.ERANGE => "Numerical result out of range",
        Errno.EDEADLK => "Resource deadlock avoided",
        Errno.ENAMETOOLONG => "File name too long",
        Errno.ENOLCK => "No locks available",
        Errno.ENOSYS => "Function not implemented",
        Errno.ENOTEMPTY => "Directory not empty",
        Errno.ELOOP => "Too many levels of symbolic links",
        Errno.ENOMSG => "No message of desired type",
        Errno.EIDRM => "Identifier removed",
        Errno.ENODATA => "No data available",
        Errno.ETIME => "Timer expired",
        Errno.EPROTO => "Protocol error",
        Errno.EBADMSG => "Bad message",
        Errno.EOVERFLOW => "Value too large for defined data type",
        Errno.EILSEQ => "Invalid or incomplete multibyte or wide character",
        Errno.EUSERS => "Too many users",
        Errno.ENOTSOCK => "Socket operation on non-socket",
        Errno.EOPNOTSUPP => "Operation not supported",
        Errno.EADDRINUSE => "Address already in use",
        Errno.EADDRNOTAVAIL => "Cannot assign requested address",
        Errno.ENETDOWN => "Network is down",
        Errno.ENETUNREACH => "Network is unreachable",
        Errno.ECONNRESET => "Connection reset by peer",
        Errno.ETIMEDOUT => "Connection timed out",
        Errno.ECONNREFUSED => "Connection refused",
        Errno.EHOSTUNREACH => "No route to host",
        Errno.EALREADY => "Operation already in progress",
        Errno.EINPROGRESS => "Operation now in progress",
        Errno.ESTALE => "Stale file handle",
        Errno.EDQUOT => "Disk quota exceeded",
        Errno.ECANCELED => "Operation canceled",
        Errno.ENOKEY => "Required key not available",
        Errno.EOWNERDEAD => "Owner died",
        Errno.ENOTRECOVERABLE => "State not recoverable",
        Errno.ERESTARTNOINTR => "Restart system call (kernel-internal, never seen by user space)",
        _ => "Unknown error " + ((int)errno).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>Parses a name (<c>EINVAL</c>, case-insensitive) or a number.</summary>
    public static bool TryParse(string text, out Errno errno)
    {
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
        {
            errno = (Errno)n;
            return true;
        }
        return Enum.TryParse(text.Trim(), ignoreCase: true, out errno) && Enum.IsDefined(errno);
    }
}
