"""Ask a modem its manufacturer with pyserial, as a Python application does.

Usage: python3 pyserial_at.py TTY

Prints the answer to AT+CGMI and exits 0 when it names u-blox and ends
with OK, 1 otherwise.
"""

import sys

import serial


def main():
    with serial.Serial(sys.argv[1], 115200, timeout=20) as port:
        port.write(b"AT+CGMI\r")
        answer = port.read_until(b"OK\r\n")
    print(repr(answer))
    if b"u-blox" in answer and answer.endswith(b"\r\nOK\r\n"):
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
