/* The click benchmark's baseline: the least a FastCGI program can do for a
 * click, a 302 with the same headers as AffTok's answer and nothing else
 * (no validation, no journal). bench/click.sh builds it and runs it under
 * the same spawn-fcgi + multiwatch pool behind the same nginx. */
#include <fcgiapp.h>
#include <stdio.h>

int main(void)
{
	FCGX_Request r;
	unsigned long n = 0;
	FCGX_Init();
	FCGX_InitRequest(&r, 0, 0);
	while (FCGX_Accept_r(&r) >= 0) {
		FCGX_FPrintF(r.out,
			     "Status: 302 Found\r\n"
			     "Cache-Control: no-store\r\n"
			     "X-Click-Id: 0Vbwp54Cyl1v97KNd2kxi%07lu\r\n"
			     "Location: http://127.0.0.1/www/landing.html?click_id=0Vbwp54Cyl1v97KNd2kxi%07lu&sub1=\r\n"
			     "X-Request-Id: 2580044df1a6a4fd\r\n\r\n",
			     n % 10000000, n % 10000000);
		n++;
		FCGX_Finish_r(&r);
	}
	return 0;
}
